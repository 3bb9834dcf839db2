require ["variables", "fileinto"];
set :lowerfirst :upper "x" "mixed";
fileinto "${x}";
