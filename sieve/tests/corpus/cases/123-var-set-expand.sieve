require ["variables", "fileinto"];
set "folder" "Work";
fileinto "INBOX.${folder}";
