# message: list.eml
require "body";
if body :content "multipart" :contains "text/html" { discard; } else { keep; }
