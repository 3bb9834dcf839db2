# message: list.eml
require ["date", "variables", "fileinto"];
if date :zone "+0200" :matches "date" "date" "*" { fileinto "${1}"; }
