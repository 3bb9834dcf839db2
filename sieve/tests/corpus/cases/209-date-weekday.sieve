require ["date", "variables", "fileinto"];
if date :matches "date" "weekday" "*" { fileinto "wd${1}"; }
