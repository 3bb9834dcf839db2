require ["fileinto", "envelope", "subaddress", "variables", "imap4flags", "mailbox"];
if header :contains "x-spam-flag" "yes" { fileinto :create "Junk"; stop; }
if exists "list-id" {
  if header :matches "list-id" "*<*.*>*" { fileinto :create "Lists.${2}"; stop; }
}
if address :domain :is "from" ["example.com", "example.org"] { addflag "\\Flagged"; }
