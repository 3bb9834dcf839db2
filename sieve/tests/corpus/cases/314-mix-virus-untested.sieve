# message: bounce.eml
require ["virustest", "fileinto"];
if virustest :is "0" { fileinto "Untested"; }
