require ["imap4flags", "variables"];
set "f" "\\Answered custom";
addflag "${f}";
