require ["subaddress", "regex", "variables", "fileinto"];
if address :detail :regex "to" "^(li)(sts)$" { fileinto "${2}${1}"; }
