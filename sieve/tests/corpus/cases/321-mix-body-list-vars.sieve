# message: list.eml
require ["body", "variables", "fileinto"];
if body :matches "This week: *" { fileinto "found"; }
