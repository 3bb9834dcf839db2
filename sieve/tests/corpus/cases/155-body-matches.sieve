# message: spam.eml
require "body";
if body :matches "*prize*" { discard; }
