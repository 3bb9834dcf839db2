require ["variables", "fileinto"];
set :upperfirst "x" "mixed";
fileinto "${x}";
