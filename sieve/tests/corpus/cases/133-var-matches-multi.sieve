require ["variables", "fileinto"];
if address :matches "from" "*@*" { fileinto "${2}.${1}"; }
