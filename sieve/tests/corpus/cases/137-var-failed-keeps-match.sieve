require ["variables", "fileinto"];
if header :matches "subject" "*on*" { set "a" "${1}"; }
if header :matches "subject" "nomatch*" { keep; }
fileinto "${1}";
