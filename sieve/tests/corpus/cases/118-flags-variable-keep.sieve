require ["imap4flags", "variables"];
addflag "f" "x";
keep :flags "${f}";
