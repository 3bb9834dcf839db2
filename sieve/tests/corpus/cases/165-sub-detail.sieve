require ["subaddress", "fileinto", "variables"];
if address :detail :matches "to" "*" { fileinto "${1}"; }
