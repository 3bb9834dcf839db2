require ["date", "variables", "fileinto"];
if date :matches "date" "julian" "*" { fileinto "j${1}"; }
