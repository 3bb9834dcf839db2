require ["include", "fileinto"];
fileinto "Before";
include "stopper";
fileinto "After";
