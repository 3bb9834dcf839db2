require ["date", "index", "variables", "fileinto"];
if date :index 1 :last :originalzone :matches "received" "zone" "*" { fileinto "z${1}"; }
