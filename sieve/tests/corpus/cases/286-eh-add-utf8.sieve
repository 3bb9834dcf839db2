require ["editheader", "variables", "fileinto"];
addheader "X-Note" "café";
if header :matches "x-note" "*" { fileinto "${1}"; }
