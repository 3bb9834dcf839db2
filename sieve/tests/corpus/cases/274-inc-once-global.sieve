require ["include", "variables", "fileinto"];
global "folder";
set "folder" "One";
include :once "use-global";
set "folder" "Two";
include :once "use-global";
