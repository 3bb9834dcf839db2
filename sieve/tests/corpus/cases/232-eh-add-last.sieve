require ["editheader", "index", "variables", "fileinto"];
addheader :last "X-Priority" "5";
if header :index 1 :last :matches "x-priority" "*" { fileinto "p${1}"; }
