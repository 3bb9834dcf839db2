# message: list.eml
require ["index", "fileinto", "variables"];
if header :index 1 :last :matches "x-mailing-list" "*" { fileinto "${1}"; }
