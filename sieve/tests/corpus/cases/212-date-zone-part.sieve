# message: list.eml
require ["date", "variables", "fileinto"];
if date :originalzone :matches "date" "zone" "*" { fileinto "z${1}"; }
