require ["imap4flags", "variables"];
set "f" "";
addflag "f" "x";
addflag "f" "y";
if hasflag :is "f" "y" { discard; }
