# message: list.eml
require ["index", "fileinto", "variables"];
if header :index 2 :matches "x-mailing-list" "*" { fileinto "${1}"; }
