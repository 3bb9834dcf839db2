require ["variables", "fileinto"];
if header :matches "subject" "M??ting*" { fileinto "${1}${2}"; }
