require ["date", "variables", "fileinto"];
if currentdate :zone "+0130" :matches "zone" "*" { fileinto "z${1}"; }
