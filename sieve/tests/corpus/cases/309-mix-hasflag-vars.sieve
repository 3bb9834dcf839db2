require ["imap4flags", "variables"];
set "a" "x y";
set "b" "z";
if hasflag :is ["a", "b"] "z" { discard; }
