require ["variables", "fileinto"];
fileinto "a${b-c}d";
