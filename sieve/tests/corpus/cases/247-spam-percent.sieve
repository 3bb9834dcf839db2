# message: spam.eml
require ["spamtestplus", "variables", "fileinto"];
if spamtest :percent :matches "*" { fileinto "p${1}"; }
