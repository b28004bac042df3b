/** ml-naivebayes ships no types; what bench/spam.ts uses. */
declare module 'ml-naivebayes' {
  export class MultinomialNB {
    train(trainingSet: number[][], trainingLabels: number[]): void;
    predict(dataset: number[][]): number[];
  }
}
