require ["include", "variables", "fileinto"];
global "folder";
fileinto "G.${folder}";
