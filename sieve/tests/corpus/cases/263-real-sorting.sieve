# message: list.eml
require ["fileinto", "envelope", "subaddress", "variables", "imap4flags", "mailbox"];
# A typical user script: lists by List-Id, tags by detail, spam by score.
if header :contains "x-spam-flag" "yes" { fileinto :create "Junk"; stop; }
if exists "list-id" {
  if header :matches "list-id" "*<*.*>*" { fileinto :create "Lists.${2}"; stop; }
}
if envelope :detail :matches "to" "*" { if string :is "${1}" "" { keep; } else { fileinto :create "Tags.${1}"; } }
if address :domain :is "from" ["example.com", "example.org"] { addflag "\\Flagged"; }
