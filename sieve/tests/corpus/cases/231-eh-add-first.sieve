require ["editheader", "index", "variables", "fileinto"];
addheader "X-Priority" "1";
if header :index 1 :matches "x-priority" "*" { fileinto "p${1}"; }
