require ["date", "variables", "fileinto"];
if date :zone "-0500" :matches "date" "iso8601" "*" { fileinto "${1}"; }
