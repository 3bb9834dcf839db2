require ["editheader"];
addheader "X-Sorted" "yes";
if header :is "x-sorted" "yes" { discard; }
