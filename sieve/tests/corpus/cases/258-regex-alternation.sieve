# message: spam.eml
require ["regex", "fileinto"];
if header :regex "x-spam-flag" "^(yes|true)$" { fileinto "Junk"; }
