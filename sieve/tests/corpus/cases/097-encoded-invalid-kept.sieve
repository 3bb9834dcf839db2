require ["encoded-character", "fileinto"];
fileinto "x${hex:zz}y";
