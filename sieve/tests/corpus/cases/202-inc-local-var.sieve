require ["include", "variables", "fileinto"];
set "folder" "Mine";
include "use-local";
