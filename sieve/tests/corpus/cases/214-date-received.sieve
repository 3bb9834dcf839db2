require ["date", "variables", "fileinto"];
if date :originalzone :matches "received" "date" "*" { fileinto "r${1}"; }
