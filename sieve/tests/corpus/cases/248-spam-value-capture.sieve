require ["spamtest", "variables", "fileinto"];
if spamtest :matches "*" { fileinto "s${1}"; }
