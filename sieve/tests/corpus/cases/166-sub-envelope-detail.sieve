# to: bob+tag@example.net
require ["subaddress", "envelope", "fileinto"];
if envelope :detail "to" "tag" { fileinto "Tagged"; }
