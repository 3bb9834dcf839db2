require ["variables", "fileinto"];
set "Folder" "Work";
fileinto "${FOLDER}";
