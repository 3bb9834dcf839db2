# message: list.eml
require "fileinto";
if exists "list-id" { fileinto "Lists"; }
