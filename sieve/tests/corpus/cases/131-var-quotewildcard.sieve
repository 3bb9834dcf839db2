require ["variables", "fileinto"];
set :quotewildcard "x" "a*b?c";
if string :matches "a*b?c" "${x}" { fileinto "yes"; }
