require ["encoded-character", "fileinto"];
fileinto "${hex:41 42 43}";
