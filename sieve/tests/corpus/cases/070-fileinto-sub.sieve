require "fileinto";
if address :domain "from" "example.com" { fileinto "INBOX.Work.Alice"; }
