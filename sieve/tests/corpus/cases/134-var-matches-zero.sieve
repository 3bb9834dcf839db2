require ["variables", "fileinto"];
if header :matches "subject" "*Friday" { fileinto "x${0}"; }
