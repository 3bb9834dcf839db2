# message: list.eml
require ["editheader", "variables", "fileinto"];
deleteheader :index 1 "x-mailing-list";
if header :matches "x-mailing-list" "*" { fileinto "${1}"; }
