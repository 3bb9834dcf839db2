require ["variables", "fileinto"];
if header :matches "subject" "Meeting on *" { fileinto "${1}"; }
