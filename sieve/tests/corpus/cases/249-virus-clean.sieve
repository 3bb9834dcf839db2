require ["virustest", "fileinto"];
if virustest :is "1" { fileinto "Clean"; }
