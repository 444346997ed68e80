import {
    Cell,
    Slice,
    Address,
    Builder,
    beginCell,
    ComputeError,
    TupleItem,
    TupleReader,
    Dictionary,
    contractAddress,
    address,
    ContractProvider,
    Sender,
    Contract,
    ContractABI,
    ABIType,
    ABIGetter,
    ABIReceiver,
    TupleBuilder,
    DictionaryValue
} from '@ton/core';

export type DataSize = {
    $$type: 'DataSize';
    cells: bigint;
    bits: bigint;
    refs: bigint;
}

export function storeDataSize(src: DataSize) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.cells, 257);
        b_0.storeInt(src.bits, 257);
        b_0.storeInt(src.refs, 257);
    };
}

export function loadDataSize(slice: Slice) {
    const sc_0 = slice;
    const _cells = sc_0.loadIntBig(257);
    const _bits = sc_0.loadIntBig(257);
    const _refs = sc_0.loadIntBig(257);
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function loadTupleDataSize(source: TupleReader) {
    const _cells = source.readBigNumber();
    const _bits = source.readBigNumber();
    const _refs = source.readBigNumber();
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function loadGetterTupleDataSize(source: TupleReader) {
    const _cells = source.readBigNumber();
    const _bits = source.readBigNumber();
    const _refs = source.readBigNumber();
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function storeTupleDataSize(source: DataSize) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.cells);
    builder.writeNumber(source.bits);
    builder.writeNumber(source.refs);
    return builder.build();
}

export function dictValueParserDataSize(): DictionaryValue<DataSize> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDataSize(src)).endCell());
        },
        parse: (src) => {
            return loadDataSize(src.loadRef().beginParse());
        }
    }
}

export type SignedBundle = {
    $$type: 'SignedBundle';
    signature: Buffer;
    signedData: Slice;
}

export function storeSignedBundle(src: SignedBundle) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeBuffer(src.signature);
        b_0.storeBuilder(src.signedData.asBuilder());
    };
}

export function loadSignedBundle(slice: Slice) {
    const sc_0 = slice;
    const _signature = sc_0.loadBuffer(64);
    const _signedData = sc_0;
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function loadTupleSignedBundle(source: TupleReader) {
    const _signature = source.readBuffer();
    const _signedData = source.readCell().asSlice();
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function loadGetterTupleSignedBundle(source: TupleReader) {
    const _signature = source.readBuffer();
    const _signedData = source.readCell().asSlice();
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function storeTupleSignedBundle(source: SignedBundle) {
    const builder = new TupleBuilder();
    builder.writeBuffer(source.signature);
    builder.writeSlice(source.signedData.asCell());
    return builder.build();
}

export function dictValueParserSignedBundle(): DictionaryValue<SignedBundle> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeSignedBundle(src)).endCell());
        },
        parse: (src) => {
            return loadSignedBundle(src.loadRef().beginParse());
        }
    }
}

export type StateInit = {
    $$type: 'StateInit';
    code: Cell;
    data: Cell;
}

export function storeStateInit(src: StateInit) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeRef(src.code);
        b_0.storeRef(src.data);
    };
}

export function loadStateInit(slice: Slice) {
    const sc_0 = slice;
    const _code = sc_0.loadRef();
    const _data = sc_0.loadRef();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function loadTupleStateInit(source: TupleReader) {
    const _code = source.readCell();
    const _data = source.readCell();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function loadGetterTupleStateInit(source: TupleReader) {
    const _code = source.readCell();
    const _data = source.readCell();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function storeTupleStateInit(source: StateInit) {
    const builder = new TupleBuilder();
    builder.writeCell(source.code);
    builder.writeCell(source.data);
    return builder.build();
}

export function dictValueParserStateInit(): DictionaryValue<StateInit> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeStateInit(src)).endCell());
        },
        parse: (src) => {
            return loadStateInit(src.loadRef().beginParse());
        }
    }
}

export type Context = {
    $$type: 'Context';
    bounceable: boolean;
    sender: Address;
    value: bigint;
    raw: Slice;
}

export function storeContext(src: Context) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeBit(src.bounceable);
        b_0.storeAddress(src.sender);
        b_0.storeInt(src.value, 257);
        b_0.storeRef(src.raw.asCell());
    };
}

export function loadContext(slice: Slice) {
    const sc_0 = slice;
    const _bounceable = sc_0.loadBit();
    const _sender = sc_0.loadAddress();
    const _value = sc_0.loadIntBig(257);
    const _raw = sc_0.loadRef().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function loadTupleContext(source: TupleReader) {
    const _bounceable = source.readBoolean();
    const _sender = source.readAddress();
    const _value = source.readBigNumber();
    const _raw = source.readCell().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function loadGetterTupleContext(source: TupleReader) {
    const _bounceable = source.readBoolean();
    const _sender = source.readAddress();
    const _value = source.readBigNumber();
    const _raw = source.readCell().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function storeTupleContext(source: Context) {
    const builder = new TupleBuilder();
    builder.writeBoolean(source.bounceable);
    builder.writeAddress(source.sender);
    builder.writeNumber(source.value);
    builder.writeSlice(source.raw.asCell());
    return builder.build();
}

export function dictValueParserContext(): DictionaryValue<Context> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeContext(src)).endCell());
        },
        parse: (src) => {
            return loadContext(src.loadRef().beginParse());
        }
    }
}

export type SendParameters = {
    $$type: 'SendParameters';
    mode: bigint;
    body: Cell | null;
    code: Cell | null;
    data: Cell | null;
    value: bigint;
    to: Address;
    bounce: boolean;
}

export function storeSendParameters(src: SendParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        if (src.code !== null && src.code !== undefined) { b_0.storeBit(true).storeRef(src.code); } else { b_0.storeBit(false); }
        if (src.data !== null && src.data !== undefined) { b_0.storeBit(true).storeRef(src.data); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeAddress(src.to);
        b_0.storeBit(src.bounce);
    };
}

export function loadSendParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _code = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _data = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _to = sc_0.loadAddress();
    const _bounce = sc_0.loadBit();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function loadTupleSendParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _code = source.readCellOpt();
    const _data = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function loadGetterTupleSendParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _code = source.readCellOpt();
    const _data = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function storeTupleSendParameters(source: SendParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeCell(source.code);
    builder.writeCell(source.data);
    builder.writeNumber(source.value);
    builder.writeAddress(source.to);
    builder.writeBoolean(source.bounce);
    return builder.build();
}

export function dictValueParserSendParameters(): DictionaryValue<SendParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeSendParameters(src)).endCell());
        },
        parse: (src) => {
            return loadSendParameters(src.loadRef().beginParse());
        }
    }
}

export type MessageParameters = {
    $$type: 'MessageParameters';
    mode: bigint;
    body: Cell | null;
    value: bigint;
    to: Address;
    bounce: boolean;
}

export function storeMessageParameters(src: MessageParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeAddress(src.to);
        b_0.storeBit(src.bounce);
    };
}

export function loadMessageParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _to = sc_0.loadAddress();
    const _bounce = sc_0.loadBit();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function loadTupleMessageParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function loadGetterTupleMessageParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function storeTupleMessageParameters(source: MessageParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeNumber(source.value);
    builder.writeAddress(source.to);
    builder.writeBoolean(source.bounce);
    return builder.build();
}

export function dictValueParserMessageParameters(): DictionaryValue<MessageParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeMessageParameters(src)).endCell());
        },
        parse: (src) => {
            return loadMessageParameters(src.loadRef().beginParse());
        }
    }
}

export type DeployParameters = {
    $$type: 'DeployParameters';
    mode: bigint;
    body: Cell | null;
    value: bigint;
    bounce: boolean;
    init: StateInit;
}

export function storeDeployParameters(src: DeployParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeBit(src.bounce);
        b_0.store(storeStateInit(src.init));
    };
}

export function loadDeployParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _bounce = sc_0.loadBit();
    const _init = loadStateInit(sc_0);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function loadTupleDeployParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _bounce = source.readBoolean();
    const _init = loadTupleStateInit(source);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function loadGetterTupleDeployParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _bounce = source.readBoolean();
    const _init = loadGetterTupleStateInit(source);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function storeTupleDeployParameters(source: DeployParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeNumber(source.value);
    builder.writeBoolean(source.bounce);
    builder.writeTuple(storeTupleStateInit(source.init));
    return builder.build();
}

export function dictValueParserDeployParameters(): DictionaryValue<DeployParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDeployParameters(src)).endCell());
        },
        parse: (src) => {
            return loadDeployParameters(src.loadRef().beginParse());
        }
    }
}

export type StdAddress = {
    $$type: 'StdAddress';
    workchain: bigint;
    address: bigint;
}

export function storeStdAddress(src: StdAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.workchain, 8);
        b_0.storeUint(src.address, 256);
    };
}

export function loadStdAddress(slice: Slice) {
    const sc_0 = slice;
    const _workchain = sc_0.loadIntBig(8);
    const _address = sc_0.loadUintBig(256);
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function loadTupleStdAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readBigNumber();
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function loadGetterTupleStdAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readBigNumber();
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function storeTupleStdAddress(source: StdAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.workchain);
    builder.writeNumber(source.address);
    return builder.build();
}

export function dictValueParserStdAddress(): DictionaryValue<StdAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeStdAddress(src)).endCell());
        },
        parse: (src) => {
            return loadStdAddress(src.loadRef().beginParse());
        }
    }
}

export type VarAddress = {
    $$type: 'VarAddress';
    workchain: bigint;
    address: Slice;
}

export function storeVarAddress(src: VarAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.workchain, 32);
        b_0.storeRef(src.address.asCell());
    };
}

export function loadVarAddress(slice: Slice) {
    const sc_0 = slice;
    const _workchain = sc_0.loadIntBig(32);
    const _address = sc_0.loadRef().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function loadTupleVarAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readCell().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function loadGetterTupleVarAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readCell().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function storeTupleVarAddress(source: VarAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.workchain);
    builder.writeSlice(source.address.asCell());
    return builder.build();
}

export function dictValueParserVarAddress(): DictionaryValue<VarAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeVarAddress(src)).endCell());
        },
        parse: (src) => {
            return loadVarAddress(src.loadRef().beginParse());
        }
    }
}

export type BasechainAddress = {
    $$type: 'BasechainAddress';
    hash: bigint | null;
}

export function storeBasechainAddress(src: BasechainAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        if (src.hash !== null && src.hash !== undefined) { b_0.storeBit(true).storeInt(src.hash, 257); } else { b_0.storeBit(false); }
    };
}

export function loadBasechainAddress(slice: Slice) {
    const sc_0 = slice;
    const _hash = sc_0.loadBit() ? sc_0.loadIntBig(257) : null;
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function loadTupleBasechainAddress(source: TupleReader) {
    const _hash = source.readBigNumberOpt();
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function loadGetterTupleBasechainAddress(source: TupleReader) {
    const _hash = source.readBigNumberOpt();
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function storeTupleBasechainAddress(source: BasechainAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.hash);
    return builder.build();
}

export function dictValueParserBasechainAddress(): DictionaryValue<BasechainAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeBasechainAddress(src)).endCell());
        },
        parse: (src) => {
            return loadBasechainAddress(src.loadRef().beginParse());
        }
    }
}

export type Fees = {
    $$type: 'Fees';
    pricePerToken: bigint;
    promptBps: bigint;
    completionBps: bigint;
    operatorFeeBps: bigint;
}

export function storeFees(src: Fees) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeCoins(src.pricePerToken);
        b_0.storeUint(src.promptBps, 32);
        b_0.storeUint(src.completionBps, 32);
        b_0.storeUint(src.operatorFeeBps, 16);
    };
}

export function loadFees(slice: Slice) {
    const sc_0 = slice;
    const _pricePerToken = sc_0.loadCoins();
    const _promptBps = sc_0.loadUintBig(32);
    const _completionBps = sc_0.loadUintBig(32);
    const _operatorFeeBps = sc_0.loadUintBig(16);
    return { $$type: 'Fees' as const, pricePerToken: _pricePerToken, promptBps: _promptBps, completionBps: _completionBps, operatorFeeBps: _operatorFeeBps };
}

export function loadTupleFees(source: TupleReader) {
    const _pricePerToken = source.readBigNumber();
    const _promptBps = source.readBigNumber();
    const _completionBps = source.readBigNumber();
    const _operatorFeeBps = source.readBigNumber();
    return { $$type: 'Fees' as const, pricePerToken: _pricePerToken, promptBps: _promptBps, completionBps: _completionBps, operatorFeeBps: _operatorFeeBps };
}

export function loadGetterTupleFees(source: TupleReader) {
    const _pricePerToken = source.readBigNumber();
    const _promptBps = source.readBigNumber();
    const _completionBps = source.readBigNumber();
    const _operatorFeeBps = source.readBigNumber();
    return { $$type: 'Fees' as const, pricePerToken: _pricePerToken, promptBps: _promptBps, completionBps: _completionBps, operatorFeeBps: _operatorFeeBps };
}

export function storeTupleFees(source: Fees) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.pricePerToken);
    builder.writeNumber(source.promptBps);
    builder.writeNumber(source.completionBps);
    builder.writeNumber(source.operatorFeeBps);
    return builder.build();
}

export function dictValueParserFees(): DictionaryValue<Fees> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeFees(src)).endCell());
        },
        parse: (src) => {
            return loadFees(src.loadRef().beginParse());
        }
    }
}

export type Policy = {
    $$type: 'Policy';
    coordinatorKey: bigint;
    fees: Fees;
    images: Dictionary<bigint, boolean>;
    models: Dictionary<bigint, bigint>;
}

export function storePolicy(src: Policy) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(src.coordinatorKey, 256);
        b_0.store(storeFees(src.fees));
        b_0.storeDict(src.images, Dictionary.Keys.BigUint(256), Dictionary.Values.Bool());
        b_0.storeDict(src.models, Dictionary.Keys.BigUint(256), Dictionary.Values.BigVarUint(4));
    };
}

export function loadPolicy(slice: Slice) {
    const sc_0 = slice;
    const _coordinatorKey = sc_0.loadUintBig(256);
    const _fees = loadFees(sc_0);
    const _images = Dictionary.load(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool(), sc_0);
    const _models = Dictionary.load(Dictionary.Keys.BigUint(256), Dictionary.Values.BigVarUint(4), sc_0);
    return { $$type: 'Policy' as const, coordinatorKey: _coordinatorKey, fees: _fees, images: _images, models: _models };
}

export function loadTuplePolicy(source: TupleReader) {
    const _coordinatorKey = source.readBigNumber();
    const _fees = loadTupleFees(source);
    const _images = Dictionary.loadDirect(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool(), source.readCellOpt());
    const _models = Dictionary.loadDirect(Dictionary.Keys.BigUint(256), Dictionary.Values.BigVarUint(4), source.readCellOpt());
    return { $$type: 'Policy' as const, coordinatorKey: _coordinatorKey, fees: _fees, images: _images, models: _models };
}

export function loadGetterTuplePolicy(source: TupleReader) {
    const _coordinatorKey = source.readBigNumber();
    const _fees = loadGetterTupleFees(source);
    const _images = Dictionary.loadDirect(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool(), source.readCellOpt());
    const _models = Dictionary.loadDirect(Dictionary.Keys.BigUint(256), Dictionary.Values.BigVarUint(4), source.readCellOpt());
    return { $$type: 'Policy' as const, coordinatorKey: _coordinatorKey, fees: _fees, images: _images, models: _models };
}

export function storeTuplePolicy(source: Policy) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.coordinatorKey);
    builder.writeTuple(storeTupleFees(source.fees));
    builder.writeCell(source.images.size > 0 ? beginCell().storeDictDirect(source.images, Dictionary.Keys.BigUint(256), Dictionary.Values.Bool()).endCell() : null);
    builder.writeCell(source.models.size > 0 ? beginCell().storeDictDirect(source.models, Dictionary.Keys.BigUint(256), Dictionary.Values.BigVarUint(4)).endCell() : null);
    return builder.build();
}

export function dictValueParserPolicy(): DictionaryValue<Policy> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storePolicy(src)).endCell());
        },
        parse: (src) => {
            return loadPolicy(src.loadRef().beginParse());
        }
    }
}

export type Proposal = {
    $$type: 'Proposal';
    proposer: bigint;
    baseVersion: bigint;
    approvals: bigint;
    readyAt: bigint;
    policy: Policy;
}

export function storeProposal(src: Proposal) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(src.proposer, 8);
        b_0.storeUint(src.baseVersion, 32);
        b_0.storeUint(src.approvals, 16);
        b_0.storeUint(src.readyAt, 32);
        b_0.store(storePolicy(src.policy));
    };
}

export function loadProposal(slice: Slice) {
    const sc_0 = slice;
    const _proposer = sc_0.loadUintBig(8);
    const _baseVersion = sc_0.loadUintBig(32);
    const _approvals = sc_0.loadUintBig(16);
    const _readyAt = sc_0.loadUintBig(32);
    const _policy = loadPolicy(sc_0);
    return { $$type: 'Proposal' as const, proposer: _proposer, baseVersion: _baseVersion, approvals: _approvals, readyAt: _readyAt, policy: _policy };
}

export function loadTupleProposal(source: TupleReader) {
    const _proposer = source.readBigNumber();
    const _baseVersion = source.readBigNumber();
    const _approvals = source.readBigNumber();
    const _readyAt = source.readBigNumber();
    const _policy = loadTuplePolicy(source);
    return { $$type: 'Proposal' as const, proposer: _proposer, baseVersion: _baseVersion, approvals: _approvals, readyAt: _readyAt, policy: _policy };
}

export function loadGetterTupleProposal(source: TupleReader) {
    const _proposer = source.readBigNumber();
    const _baseVersion = source.readBigNumber();
    const _approvals = source.readBigNumber();
    const _readyAt = source.readBigNumber();
    const _policy = loadGetterTuplePolicy(source);
    return { $$type: 'Proposal' as const, proposer: _proposer, baseVersion: _baseVersion, approvals: _approvals, readyAt: _readyAt, policy: _policy };
}

export function storeTupleProposal(source: Proposal) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.proposer);
    builder.writeNumber(source.baseVersion);
    builder.writeNumber(source.approvals);
    builder.writeNumber(source.readyAt);
    builder.writeTuple(storeTuplePolicy(source.policy));
    return builder.build();
}

export function dictValueParserProposal(): DictionaryValue<Proposal> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeProposal(src)).endCell());
        },
        parse: (src) => {
            return loadProposal(src.loadRef().beginParse());
        }
    }
}

export type PolicyState = {
    $$type: 'PolicyState';
    version: bigint;
    updatedAt: bigint;
    policy: Policy;
}

export function storePolicyState(src: PolicyState) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(src.version, 32);
        b_0.storeUint(src.updatedAt, 32);
        b_0.store(storePolicy(src.policy));
    };
}

export function loadPolicyState(slice: Slice) {
    const sc_0 = slice;
    const _version = sc_0.loadUintBig(32);
    const _updatedAt = sc_0.loadUintBig(32);
    const _policy = loadPolicy(sc_0);
    return { $$type: 'PolicyState' as const, version: _version, updatedAt: _updatedAt, policy: _policy };
}

export function loadTuplePolicyState(source: TupleReader) {
    const _version = source.readBigNumber();
    const _updatedAt = source.readBigNumber();
    const _policy = loadTuplePolicy(source);
    return { $$type: 'PolicyState' as const, version: _version, updatedAt: _updatedAt, policy: _policy };
}

export function loadGetterTuplePolicyState(source: TupleReader) {
    const _version = source.readBigNumber();
    const _updatedAt = source.readBigNumber();
    const _policy = loadGetterTuplePolicy(source);
    return { $$type: 'PolicyState' as const, version: _version, updatedAt: _updatedAt, policy: _policy };
}

export function storeTuplePolicyState(source: PolicyState) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.version);
    builder.writeNumber(source.updatedAt);
    builder.writeTuple(storeTuplePolicy(source.policy));
    return builder.build();
}

export function dictValueParserPolicyState(): DictionaryValue<PolicyState> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storePolicyState(src)).endCell());
        },
        parse: (src) => {
            return loadPolicyState(src.loadRef().beginParse());
        }
    }
}

export type Multisig = {
    $$type: 'Multisig';
    threshold: bigint;
    ownerCount: bigint;
    timelock: bigint;
    nextProposalId: bigint;
}

export function storeMultisig(src: Multisig) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(src.threshold, 8);
        b_0.storeUint(src.ownerCount, 8);
        b_0.storeUint(src.timelock, 32);
        b_0.storeUint(src.nextProposalId, 32);
    };
}

export function loadMultisig(slice: Slice) {
    const sc_0 = slice;
    const _threshold = sc_0.loadUintBig(8);
    const _ownerCount = sc_0.loadUintBig(8);
    const _timelock = sc_0.loadUintBig(32);
    const _nextProposalId = sc_0.loadUintBig(32);
    return { $$type: 'Multisig' as const, threshold: _threshold, ownerCount: _ownerCount, timelock: _timelock, nextProposalId: _nextProposalId };
}

export function loadTupleMultisig(source: TupleReader) {
    const _threshold = source.readBigNumber();
    const _ownerCount = source.readBigNumber();
    const _timelock = source.readBigNumber();
    const _nextProposalId = source.readBigNumber();
    return { $$type: 'Multisig' as const, threshold: _threshold, ownerCount: _ownerCount, timelock: _timelock, nextProposalId: _nextProposalId };
}

export function loadGetterTupleMultisig(source: TupleReader) {
    const _threshold = source.readBigNumber();
    const _ownerCount = source.readBigNumber();
    const _timelock = source.readBigNumber();
    const _nextProposalId = source.readBigNumber();
    return { $$type: 'Multisig' as const, threshold: _threshold, ownerCount: _ownerCount, timelock: _timelock, nextProposalId: _nextProposalId };
}

export function storeTupleMultisig(source: Multisig) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.threshold);
    builder.writeNumber(source.ownerCount);
    builder.writeNumber(source.timelock);
    builder.writeNumber(source.nextProposalId);
    return builder.build();
}

export function dictValueParserMultisig(): DictionaryValue<Multisig> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeMultisig(src)).endCell());
        },
        parse: (src) => {
            return loadMultisig(src.loadRef().beginParse());
        }
    }
}

export type Propose = {
    $$type: 'Propose';
    policy: Policy;
}

export function storePropose(src: Propose) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797197313, 32);
        b_0.store(storePolicy(src.policy));
    };
}

export function loadPropose(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797197313) { throw Error('Invalid prefix'); }
    const _policy = loadPolicy(sc_0);
    return { $$type: 'Propose' as const, policy: _policy };
}

export function loadTuplePropose(source: TupleReader) {
    const _policy = loadTuplePolicy(source);
    return { $$type: 'Propose' as const, policy: _policy };
}

export function loadGetterTuplePropose(source: TupleReader) {
    const _policy = loadGetterTuplePolicy(source);
    return { $$type: 'Propose' as const, policy: _policy };
}

export function storeTuplePropose(source: Propose) {
    const builder = new TupleBuilder();
    builder.writeTuple(storeTuplePolicy(source.policy));
    return builder.build();
}

export function dictValueParserPropose(): DictionaryValue<Propose> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storePropose(src)).endCell());
        },
        parse: (src) => {
            return loadPropose(src.loadRef().beginParse());
        }
    }
}

export type Approve = {
    $$type: 'Approve';
    id: bigint;
}

export function storeApprove(src: Approve) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797197314, 32);
        b_0.storeUint(src.id, 32);
    };
}

export function loadApprove(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797197314) { throw Error('Invalid prefix'); }
    const _id = sc_0.loadUintBig(32);
    return { $$type: 'Approve' as const, id: _id };
}

export function loadTupleApprove(source: TupleReader) {
    const _id = source.readBigNumber();
    return { $$type: 'Approve' as const, id: _id };
}

export function loadGetterTupleApprove(source: TupleReader) {
    const _id = source.readBigNumber();
    return { $$type: 'Approve' as const, id: _id };
}

export function storeTupleApprove(source: Approve) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.id);
    return builder.build();
}

export function dictValueParserApprove(): DictionaryValue<Approve> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeApprove(src)).endCell());
        },
        parse: (src) => {
            return loadApprove(src.loadRef().beginParse());
        }
    }
}

export type Revoke = {
    $$type: 'Revoke';
    id: bigint;
}

export function storeRevoke(src: Revoke) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797197315, 32);
        b_0.storeUint(src.id, 32);
    };
}

export function loadRevoke(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797197315) { throw Error('Invalid prefix'); }
    const _id = sc_0.loadUintBig(32);
    return { $$type: 'Revoke' as const, id: _id };
}

export function loadTupleRevoke(source: TupleReader) {
    const _id = source.readBigNumber();
    return { $$type: 'Revoke' as const, id: _id };
}

export function loadGetterTupleRevoke(source: TupleReader) {
    const _id = source.readBigNumber();
    return { $$type: 'Revoke' as const, id: _id };
}

export function storeTupleRevoke(source: Revoke) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.id);
    return builder.build();
}

export function dictValueParserRevoke(): DictionaryValue<Revoke> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeRevoke(src)).endCell());
        },
        parse: (src) => {
            return loadRevoke(src.loadRef().beginParse());
        }
    }
}

export type Execute = {
    $$type: 'Execute';
    id: bigint;
}

export function storeExecute(src: Execute) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797197316, 32);
        b_0.storeUint(src.id, 32);
    };
}

export function loadExecute(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797197316) { throw Error('Invalid prefix'); }
    const _id = sc_0.loadUintBig(32);
    return { $$type: 'Execute' as const, id: _id };
}

export function loadTupleExecute(source: TupleReader) {
    const _id = source.readBigNumber();
    return { $$type: 'Execute' as const, id: _id };
}

export function loadGetterTupleExecute(source: TupleReader) {
    const _id = source.readBigNumber();
    return { $$type: 'Execute' as const, id: _id };
}

export function storeTupleExecute(source: Execute) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.id);
    return builder.build();
}

export function dictValueParserExecute(): DictionaryValue<Execute> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeExecute(src)).endCell());
        },
        parse: (src) => {
            return loadExecute(src.loadRef().beginParse());
        }
    }
}

export type PolicyRegistry$Data = {
    $$type: 'PolicyRegistry$Data';
    owners: Dictionary<Address, number>;
    threshold: bigint;
    ownerCount: bigint;
    timelock: bigint;
    version: bigint;
    updatedAt: bigint;
    policy: Policy;
    nextProposalId: bigint;
    proposals: Dictionary<number, Proposal>;
    openProposal: Dictionary<number, number>;
}

export function storePolicyRegistry$Data(src: PolicyRegistry$Data) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeDict(src.owners, Dictionary.Keys.Address(), Dictionary.Values.Uint(8));
        b_0.storeUint(src.threshold, 8);
        b_0.storeUint(src.ownerCount, 8);
        b_0.storeUint(src.timelock, 32);
        b_0.storeUint(src.version, 32);
        b_0.storeUint(src.updatedAt, 32);
        const b_1 = new Builder();
        b_1.store(storePolicy(src.policy));
        b_1.storeUint(src.nextProposalId, 32);
        b_1.storeDict(src.proposals, Dictionary.Keys.Uint(32), dictValueParserProposal());
        b_1.storeDict(src.openProposal, Dictionary.Keys.Uint(8), Dictionary.Values.Uint(32));
        b_0.storeRef(b_1.endCell());
    };
}

export function loadPolicyRegistry$Data(slice: Slice) {
    const sc_0 = slice;
    const _owners = Dictionary.load(Dictionary.Keys.Address(), Dictionary.Values.Uint(8), sc_0);
    const _threshold = sc_0.loadUintBig(8);
    const _ownerCount = sc_0.loadUintBig(8);
    const _timelock = sc_0.loadUintBig(32);
    const _version = sc_0.loadUintBig(32);
    const _updatedAt = sc_0.loadUintBig(32);
    const sc_1 = sc_0.loadRef().beginParse();
    const _policy = loadPolicy(sc_1);
    const _nextProposalId = sc_1.loadUintBig(32);
    const _proposals = Dictionary.load(Dictionary.Keys.Uint(32), dictValueParserProposal(), sc_1);
    const _openProposal = Dictionary.load(Dictionary.Keys.Uint(8), Dictionary.Values.Uint(32), sc_1);
    return { $$type: 'PolicyRegistry$Data' as const, owners: _owners, threshold: _threshold, ownerCount: _ownerCount, timelock: _timelock, version: _version, updatedAt: _updatedAt, policy: _policy, nextProposalId: _nextProposalId, proposals: _proposals, openProposal: _openProposal };
}

export function loadTuplePolicyRegistry$Data(source: TupleReader) {
    const _owners = Dictionary.loadDirect(Dictionary.Keys.Address(), Dictionary.Values.Uint(8), source.readCellOpt());
    const _threshold = source.readBigNumber();
    const _ownerCount = source.readBigNumber();
    const _timelock = source.readBigNumber();
    const _version = source.readBigNumber();
    const _updatedAt = source.readBigNumber();
    const _policy = loadTuplePolicy(source);
    const _nextProposalId = source.readBigNumber();
    const _proposals = Dictionary.loadDirect(Dictionary.Keys.Uint(32), dictValueParserProposal(), source.readCellOpt());
    const _openProposal = Dictionary.loadDirect(Dictionary.Keys.Uint(8), Dictionary.Values.Uint(32), source.readCellOpt());
    return { $$type: 'PolicyRegistry$Data' as const, owners: _owners, threshold: _threshold, ownerCount: _ownerCount, timelock: _timelock, version: _version, updatedAt: _updatedAt, policy: _policy, nextProposalId: _nextProposalId, proposals: _proposals, openProposal: _openProposal };
}

export function loadGetterTuplePolicyRegistry$Data(source: TupleReader) {
    const _owners = Dictionary.loadDirect(Dictionary.Keys.Address(), Dictionary.Values.Uint(8), source.readCellOpt());
    const _threshold = source.readBigNumber();
    const _ownerCount = source.readBigNumber();
    const _timelock = source.readBigNumber();
    const _version = source.readBigNumber();
    const _updatedAt = source.readBigNumber();
    const _policy = loadGetterTuplePolicy(source);
    const _nextProposalId = source.readBigNumber();
    const _proposals = Dictionary.loadDirect(Dictionary.Keys.Uint(32), dictValueParserProposal(), source.readCellOpt());
    const _openProposal = Dictionary.loadDirect(Dictionary.Keys.Uint(8), Dictionary.Values.Uint(32), source.readCellOpt());
    return { $$type: 'PolicyRegistry$Data' as const, owners: _owners, threshold: _threshold, ownerCount: _ownerCount, timelock: _timelock, version: _version, updatedAt: _updatedAt, policy: _policy, nextProposalId: _nextProposalId, proposals: _proposals, openProposal: _openProposal };
}

export function storeTuplePolicyRegistry$Data(source: PolicyRegistry$Data) {
    const builder = new TupleBuilder();
    builder.writeCell(source.owners.size > 0 ? beginCell().storeDictDirect(source.owners, Dictionary.Keys.Address(), Dictionary.Values.Uint(8)).endCell() : null);
    builder.writeNumber(source.threshold);
    builder.writeNumber(source.ownerCount);
    builder.writeNumber(source.timelock);
    builder.writeNumber(source.version);
    builder.writeNumber(source.updatedAt);
    builder.writeTuple(storeTuplePolicy(source.policy));
    builder.writeNumber(source.nextProposalId);
    builder.writeCell(source.proposals.size > 0 ? beginCell().storeDictDirect(source.proposals, Dictionary.Keys.Uint(32), dictValueParserProposal()).endCell() : null);
    builder.writeCell(source.openProposal.size > 0 ? beginCell().storeDictDirect(source.openProposal, Dictionary.Keys.Uint(8), Dictionary.Values.Uint(32)).endCell() : null);
    return builder.build();
}

export function dictValueParserPolicyRegistry$Data(): DictionaryValue<PolicyRegistry$Data> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storePolicyRegistry$Data(src)).endCell());
        },
        parse: (src) => {
            return loadPolicyRegistry$Data(src.loadRef().beginParse());
        }
    }
}

 type PolicyRegistry_init_args = {
    $$type: 'PolicyRegistry_init_args';
    owners: Dictionary<Address, number>;
    threshold: bigint;
    timelock: bigint;
    policy: Policy;
}

function initPolicyRegistry_init_args(src: PolicyRegistry_init_args) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeDict(src.owners, Dictionary.Keys.Address(), Dictionary.Values.Uint(8));
        b_0.storeInt(src.threshold, 257);
        b_0.storeInt(src.timelock, 257);
        const b_1 = new Builder();
        b_1.store(storePolicy(src.policy));
        b_0.storeRef(b_1.endCell());
    };
}

async function PolicyRegistry_init(owners: Dictionary<Address, number>, threshold: bigint, timelock: bigint, policy: Policy) {
    const __code = Cell.fromHex('b5ee9c72410226010008d800022cff008e88f4a413f4bcf2c80bed53208e8130e1ed43d90115020271021302012003050389baa77ed44d0d200018eb2f404810101d700810101d700d401d0d3fffa00d31fd31fd30f553004f404f40407466637107a1079107855050ad15508db3ce30ddb3c57105f0f816180400022b020120060b0203796007090393a11bb513434800063acbd0120404075c020404075c035007434fffe8034c7f4c7f4c3d54c013d013d0101d1998dc41e841e441e154142b4554236cf38c343c44403d543b6cf15c417c3e16180800ec8020230259f40f6fa192306ddf206e92306d8e29d0d307d31fd30fd31fd3fffa00d31fd31fd30f553004f404f404074666107b107a107910786c1b6f0be2206e92306de0206ef2d0806f2bc855a050abcb0718cb1f16cb0f14cb1f46571034125067cbff55305043fa02cb1f12cb1fcb0ff400f400c90387a257b513434800063acbd0120404075c020404075c035007434fffe8034c7f4c7f4c3d54c013d013d0101d1998dc41e841e441e154142b4554236cf38c376cf15c417c3e16180a00022f0201200c110201200d0f0389ac37f6a268690000c7597a02408080eb80408080eb806a00e869fffd00698fe98fe987aa98027a027a0203a3331b883d083c883c2a828568aa846d9e7186ed9e366236224016180e0008547edc250395ae8876a268690000c7597a02408080eb80408080eb806a00e869fffd00698fe98fe987aa98027a027a0203a3331b883d083c883c2a828568aa846d9e718687888807aa876d9e2b882f87c016181000148307260259f40e6fa1310389b3bdfb513434800063acbd0120404075c020404075c035007434fffe8034c7f4c7f4c3d54c013d013d0101d1998dc41e841e441e154142b4554236cf38c376cf1b265b1e601618120012547ba9547ba9547ba90395bceb4f6a268690000c7597a02408080eb80408080eb806a00e869fffd00698fe98fe987aa98027a027a0203a3331b883d083c883c2a828568aa846d9e718687888807aa876d9e2b882f87c16181400148307250259f40e6fa13104ec01d072d721d200d200fa4021103450666f04f86102f862ed44d0d200018eb2f404810101d700810101d700d401d0d3fffa00d31fd31fd30f553004f404f40407466637107a1079107855050ad15508db3ce30d1111935f0f5be0705610d74920c21f97311110d31f1111de2182106b1f0e01bae302211618191d01f471206d6d70530e81010b7859f4826fa520965023d7013058966c216d326d01e2908e3620c1109720ae5230b0c0009170e2f2e4b8ae12b102a481010b56114013784133f4746fa520965023d7013058966c216d326d01e21034e85b21c2009421aea5ba923070e2f2e4b82dc2009353d0bb9170e2f2e4b82cc2ff17014a972c8209e13380bb9170e2f2e4b8547ba9547ba92bdb3cf8231d1c105b509a1058074464131a0092f404d307d307d31fd31fd31fd401d0d3fffa00d31fd31fd30f553004f404f40407466607d31ff404f404300a11100a10af10ae10ad10ac10ab1089107810671056104510345710550e03fc5b0fd3fffa00d31fd31fd30f553004f404f404074666370f11140f0e11130e0d11120d0c11110c0b11100b0a11140a0911130908111208071111070611100605111405041113040311120302111102011115011116db3c5615561556155615561a561c5617db3c21782280204133f40e6fa19401d70130925b6de2206eb3221a1b00365b3302812710bbf2e4b7c20092c200923070e2f2e4b7c300f2e4b701ee9e802001206ef2d0804044f45b30029130e223a4802022ae5612c00195f8235611a09170e224095611091038102706111b0605111a05041119040311180302111c0201111d011117c855a050abcb0718cb1f16cb0f14cb1f46571034125067cbff55305043fa02cb1f12cb1fcb0ff400f400c94ef052d01c017e206e953059f45b30944133f417e2021110027802011110010c8020216e955b59f45b3098c801cf014133f443e2108f107e106d105c104b103a4980463045502503fc82106b1f0e02bae3022182106b1f0e03bae3022182106b1f0e04bae3025711c0001110c12101111001b08e4b10df551cc87f01ca00111055e011101ff4001dcb071bcb0719cb1f17cb1f15cb1fc8071046103544085067cbff55305043fa02cb1f12cb1fcb0ff400f40012cb1f12f40012f400cdc9ed54e05f0f30f2c0821e1f2104ee5b0fd31f3010ef10de10cd10bc10ab109a10891078106710561045103411104130db3c0f11100f0e11100e0d11100d0c11100c0b11100b0a11100a09111009111008070655405611db3c561bae5290b0c000f2e4b3111bae18b126c0008e8620db3c5619be9170e29736f8235616a006de8020111b18c82223242004d65b0fd31f3010ef10de10cd10bc10ab109a10891078106710561045103411104130db3c0f11100f0e11100e0d11100d0c11100c0b11100b0a11100a09111009111008070655405611db3c561bae5290b0c300f2e4b9111baeb318b020db3c5619b9927037de8020111b18c82223242001b455a050abcb0718cb1f16cb0f14cb1f46571034125067cbff55305043fa02cb1f12cb1fcb0ff400f400c910230211110201111201206e953059f45b30944133f417e210df10ce10bd10ac109b108a1079106810571046103544032504d85b0fd31f3010ef10de10cd10bc10ab109a10891078106710561045103411104130db3c305610db3c393d3d3d3d3d3d3d3d0cdb3c5610bef2e4b4f823500bbef2e4b50ba4f82301111101028020f45b30509b78f45b3010ef10de10cd10bc108a10791068105710461035414022232425004681010bf842561159784133f40a6fa19401d70130925b6de2206eb3f2e4b1206ef2d08000b88020230259f40f6fa192306ddf206e92306d8e29d0d307d31fd30fd31fd3fffa00d31fd31fd30f553004f404f404074666107b107a107910786c1b6f0be2206eb3f2e4b220206ef2d0806f2b109a5f0a2dbaf2e4b6206ef2d0806f2b00187091219621a512b001a4e831008ec87f01ca00111055e011101ff4001dcb071bcb0719cb1f17cb1f15cb1fc8071046103544085067cbff55305043fa02cb1f12cb1fcb0ff400f40012cb1f12f40012f400cdc9ed5481161b6a');
    const builder = beginCell();
    builder.storeUint(0, 1);
    initPolicyRegistry_init_args({ $$type: 'PolicyRegistry_init_args', owners, threshold, timelock, policy })(builder);
    const __data = builder.endCell();
    return { code: __code, data: __data };
}

export const PolicyRegistry_errors = {
    2: { message: "Stack underflow" },
    3: { message: "Stack overflow" },
    4: { message: "Integer overflow" },
    5: { message: "Integer out of expected range" },
    6: { message: "Invalid opcode" },
    7: { message: "Type check error" },
    8: { message: "Cell overflow" },
    9: { message: "Cell underflow" },
    10: { message: "Dictionary error" },
    11: { message: "'Unknown' error" },
    12: { message: "Fatal error" },
    13: { message: "Out of gas error" },
    14: { message: "Virtualization error" },
    32: { message: "Action list is invalid" },
    33: { message: "Action list is too long" },
    34: { message: "Action is invalid or not supported" },
    35: { message: "Invalid source address in outbound message" },
    36: { message: "Invalid destination address in outbound message" },
    37: { message: "Not enough Toncoin" },
    38: { message: "Not enough extra currencies" },
    39: { message: "Outbound message does not fit into a cell after rewriting" },
    40: { message: "Cannot process a message" },
    41: { message: "Library reference is null" },
    42: { message: "Library change action error" },
    43: { message: "Exceeded maximum number of cells in the library or the maximum depth of the Merkle tree" },
    50: { message: "Account state size exceeded limits" },
    128: { message: "Null reference exception" },
    129: { message: "Invalid serialization prefix" },
    130: { message: "Invalid incoming message" },
    131: { message: "Constraints error" },
    132: { message: "Access denied" },
    133: { message: "Contract stopped" },
    134: { message: "Invalid argument" },
    135: { message: "Code of a contract was not found" },
    136: { message: "Invalid standard address" },
    138: { message: "Not a basechain address" },
} as const

export const PolicyRegistry_errors_backward = {
    "Stack underflow": 2,
    "Stack overflow": 3,
    "Integer overflow": 4,
    "Integer out of expected range": 5,
    "Invalid opcode": 6,
    "Type check error": 7,
    "Cell overflow": 8,
    "Cell underflow": 9,
    "Dictionary error": 10,
    "'Unknown' error": 11,
    "Fatal error": 12,
    "Out of gas error": 13,
    "Virtualization error": 14,
    "Action list is invalid": 32,
    "Action list is too long": 33,
    "Action is invalid or not supported": 34,
    "Invalid source address in outbound message": 35,
    "Invalid destination address in outbound message": 36,
    "Not enough Toncoin": 37,
    "Not enough extra currencies": 38,
    "Outbound message does not fit into a cell after rewriting": 39,
    "Cannot process a message": 40,
    "Library reference is null": 41,
    "Library change action error": 42,
    "Exceeded maximum number of cells in the library or the maximum depth of the Merkle tree": 43,
    "Account state size exceeded limits": 50,
    "Null reference exception": 128,
    "Invalid serialization prefix": 129,
    "Invalid incoming message": 130,
    "Constraints error": 131,
    "Access denied": 132,
    "Contract stopped": 133,
    "Invalid argument": 134,
    "Code of a contract was not found": 135,
    "Invalid standard address": 136,
    "Not a basechain address": 138,
} as const

const PolicyRegistry_types: ABIType[] = [
    {"name":"DataSize","header":null,"fields":[{"name":"cells","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"bits","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"refs","type":{"kind":"simple","type":"int","optional":false,"format":257}}]},
    {"name":"SignedBundle","header":null,"fields":[{"name":"signature","type":{"kind":"simple","type":"fixed-bytes","optional":false,"format":64}},{"name":"signedData","type":{"kind":"simple","type":"slice","optional":false,"format":"remainder"}}]},
    {"name":"StateInit","header":null,"fields":[{"name":"code","type":{"kind":"simple","type":"cell","optional":false}},{"name":"data","type":{"kind":"simple","type":"cell","optional":false}}]},
    {"name":"Context","header":null,"fields":[{"name":"bounceable","type":{"kind":"simple","type":"bool","optional":false}},{"name":"sender","type":{"kind":"simple","type":"address","optional":false}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"raw","type":{"kind":"simple","type":"slice","optional":false}}]},
    {"name":"SendParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"code","type":{"kind":"simple","type":"cell","optional":true}},{"name":"data","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}}]},
    {"name":"MessageParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}}]},
    {"name":"DeployParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}},{"name":"init","type":{"kind":"simple","type":"StateInit","optional":false}}]},
    {"name":"StdAddress","header":null,"fields":[{"name":"workchain","type":{"kind":"simple","type":"int","optional":false,"format":8}},{"name":"address","type":{"kind":"simple","type":"uint","optional":false,"format":256}}]},
    {"name":"VarAddress","header":null,"fields":[{"name":"workchain","type":{"kind":"simple","type":"int","optional":false,"format":32}},{"name":"address","type":{"kind":"simple","type":"slice","optional":false}}]},
    {"name":"BasechainAddress","header":null,"fields":[{"name":"hash","type":{"kind":"simple","type":"int","optional":true,"format":257}}]},
    {"name":"Fees","header":null,"fields":[{"name":"pricePerToken","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"promptBps","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"completionBps","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"operatorFeeBps","type":{"kind":"simple","type":"uint","optional":false,"format":16}}]},
    {"name":"Policy","header":null,"fields":[{"name":"coordinatorKey","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"fees","type":{"kind":"simple","type":"Fees","optional":false}},{"name":"images","type":{"kind":"dict","key":"uint","keyFormat":256,"value":"bool"}},{"name":"models","type":{"kind":"dict","key":"uint","keyFormat":256,"value":"uint","valueFormat":"coins"}}]},
    {"name":"Proposal","header":null,"fields":[{"name":"proposer","type":{"kind":"simple","type":"uint","optional":false,"format":8}},{"name":"baseVersion","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"approvals","type":{"kind":"simple","type":"uint","optional":false,"format":16}},{"name":"readyAt","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"policy","type":{"kind":"simple","type":"Policy","optional":false}}]},
    {"name":"PolicyState","header":null,"fields":[{"name":"version","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"updatedAt","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"policy","type":{"kind":"simple","type":"Policy","optional":false}}]},
    {"name":"Multisig","header":null,"fields":[{"name":"threshold","type":{"kind":"simple","type":"uint","optional":false,"format":8}},{"name":"ownerCount","type":{"kind":"simple","type":"uint","optional":false,"format":8}},{"name":"timelock","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"nextProposalId","type":{"kind":"simple","type":"uint","optional":false,"format":32}}]},
    {"name":"Propose","header":1797197313,"fields":[{"name":"policy","type":{"kind":"simple","type":"Policy","optional":false}}]},
    {"name":"Approve","header":1797197314,"fields":[{"name":"id","type":{"kind":"simple","type":"uint","optional":false,"format":32}}]},
    {"name":"Revoke","header":1797197315,"fields":[{"name":"id","type":{"kind":"simple","type":"uint","optional":false,"format":32}}]},
    {"name":"Execute","header":1797197316,"fields":[{"name":"id","type":{"kind":"simple","type":"uint","optional":false,"format":32}}]},
    {"name":"PolicyRegistry$Data","header":null,"fields":[{"name":"owners","type":{"kind":"dict","key":"address","value":"uint","valueFormat":8}},{"name":"threshold","type":{"kind":"simple","type":"uint","optional":false,"format":8}},{"name":"ownerCount","type":{"kind":"simple","type":"uint","optional":false,"format":8}},{"name":"timelock","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"version","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"updatedAt","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"policy","type":{"kind":"simple","type":"Policy","optional":false}},{"name":"nextProposalId","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"proposals","type":{"kind":"dict","key":"uint","keyFormat":32,"value":"Proposal","valueFormat":"ref"}},{"name":"openProposal","type":{"kind":"dict","key":"uint","keyFormat":8,"value":"uint","valueFormat":32}}]},
]

const PolicyRegistry_opcodes = {
    "Propose": 1797197313,
    "Approve": 1797197314,
    "Revoke": 1797197315,
    "Execute": 1797197316,
}

const PolicyRegistry_getters: ABIGetter[] = [
    {"name":"policyState","methodId":98039,"arguments":[],"returnType":{"kind":"simple","type":"PolicyState","optional":false}},
    {"name":"version","methodId":76407,"arguments":[],"returnType":{"kind":"simple","type":"int","optional":false,"format":257}},
    {"name":"imageAllowed","methodId":93456,"arguments":[{"name":"measurement","type":{"kind":"simple","type":"int","optional":false,"format":257}}],"returnType":{"kind":"simple","type":"bool","optional":false}},
    {"name":"modelAllowed","methodId":105833,"arguments":[{"name":"digest","type":{"kind":"simple","type":"int","optional":false,"format":257}}],"returnType":{"kind":"simple","type":"bool","optional":false}},
    {"name":"proposal","methodId":84550,"arguments":[{"name":"id","type":{"kind":"simple","type":"int","optional":false,"format":257}}],"returnType":{"kind":"simple","type":"cell","optional":true}},
    {"name":"multisig","methodId":90223,"arguments":[],"returnType":{"kind":"simple","type":"Multisig","optional":false}},
    {"name":"owners","methodId":84885,"arguments":[],"returnType":{"kind":"dict","key":"address","value":"uint","valueFormat":8}},
]

export const PolicyRegistry_getterMapping: { [key: string]: string } = {
    'policyState': 'getPolicyState',
    'version': 'getVersion',
    'imageAllowed': 'getImageAllowed',
    'modelAllowed': 'getModelAllowed',
    'proposal': 'getProposal',
    'multisig': 'getMultisig',
    'owners': 'getOwners',
}

const PolicyRegistry_receivers: ABIReceiver[] = [
    {"receiver":"internal","message":{"kind":"typed","type":"Propose"}},
    {"receiver":"internal","message":{"kind":"typed","type":"Approve"}},
    {"receiver":"internal","message":{"kind":"typed","type":"Revoke"}},
    {"receiver":"internal","message":{"kind":"typed","type":"Execute"}},
    {"receiver":"internal","message":{"kind":"empty"}},
]

export const ERR_NOT_REGISTRY_OWNER = 1201n;
export const ERR_NO_PROPOSAL = 1202n;
export const ERR_ALREADY_APPROVED = 1203n;
export const ERR_NOT_ENOUGH_APPROVALS = 1204n;
export const ERR_TIMELOCKED = 1205n;
export const ERR_STALE_PROPOSAL = 1206n;
export const ERR_BAD_POLICY = 1207n;
export const ERR_BAD_MULTISIG = 1208n;
export const ERR_NOT_APPROVED = 1209n;
export const BPS = 10000n;
export const MAX_OWNERS = 16n;
export const MAX_TIMELOCK = 31536000n;

export class PolicyRegistry implements Contract {
    
    public static readonly storageReserve = 0n;
    public static readonly errors = PolicyRegistry_errors_backward;
    public static readonly opcodes = PolicyRegistry_opcodes;
    
    static async init(owners: Dictionary<Address, number>, threshold: bigint, timelock: bigint, policy: Policy) {
        return await PolicyRegistry_init(owners, threshold, timelock, policy);
    }
    
    static async fromInit(owners: Dictionary<Address, number>, threshold: bigint, timelock: bigint, policy: Policy) {
        const __gen_init = await PolicyRegistry_init(owners, threshold, timelock, policy);
        const address = contractAddress(0, __gen_init);
        return new PolicyRegistry(address, __gen_init);
    }
    
    static fromAddress(address: Address) {
        return new PolicyRegistry(address);
    }
    
    readonly address: Address; 
    readonly init?: { code: Cell, data: Cell };
    readonly abi: ContractABI = {
        types:  PolicyRegistry_types,
        getters: PolicyRegistry_getters,
        receivers: PolicyRegistry_receivers,
        errors: PolicyRegistry_errors,
    };
    
    constructor(address: Address, init?: { code: Cell, data: Cell }) {
        this.address = address;
        this.init = init;
    }
    
    async send(provider: ContractProvider, via: Sender, args: { value: bigint, bounce?: boolean| null | undefined }, message: Propose | Approve | Revoke | Execute | null) {
        
        let body: Cell | null = null;
        if (message && typeof message === 'object' && !(message instanceof Slice) && message.$$type === 'Propose') {
            body = beginCell().store(storePropose(message)).endCell();
        }
        if (message && typeof message === 'object' && !(message instanceof Slice) && message.$$type === 'Approve') {
            body = beginCell().store(storeApprove(message)).endCell();
        }
        if (message && typeof message === 'object' && !(message instanceof Slice) && message.$$type === 'Revoke') {
            body = beginCell().store(storeRevoke(message)).endCell();
        }
        if (message && typeof message === 'object' && !(message instanceof Slice) && message.$$type === 'Execute') {
            body = beginCell().store(storeExecute(message)).endCell();
        }
        if (message === null) {
            body = new Cell();
        }
        if (body === null) { throw new Error('Invalid message type'); }
        
        await provider.internal(via, { ...args, body: body });
        
    }
    
    async getPolicyState(provider: ContractProvider) {
        const builder = new TupleBuilder();
        const source = (await provider.get('policyState', builder.build())).stack;
        const result = loadGetterTuplePolicyState(source);
        return result;
    }
    
    async getVersion(provider: ContractProvider) {
        const builder = new TupleBuilder();
        const source = (await provider.get('version', builder.build())).stack;
        const result = source.readBigNumber();
        return result;
    }
    
    async getImageAllowed(provider: ContractProvider, measurement: bigint) {
        const builder = new TupleBuilder();
        builder.writeNumber(measurement);
        const source = (await provider.get('imageAllowed', builder.build())).stack;
        const result = source.readBoolean();
        return result;
    }
    
    async getModelAllowed(provider: ContractProvider, digest: bigint) {
        const builder = new TupleBuilder();
        builder.writeNumber(digest);
        const source = (await provider.get('modelAllowed', builder.build())).stack;
        const result = source.readBoolean();
        return result;
    }
    
    async getProposal(provider: ContractProvider, id: bigint) {
        const builder = new TupleBuilder();
        builder.writeNumber(id);
        const source = (await provider.get('proposal', builder.build())).stack;
        const result = source.readCellOpt();
        return result;
    }
    
    async getMultisig(provider: ContractProvider) {
        const builder = new TupleBuilder();
        const source = (await provider.get('multisig', builder.build())).stack;
        const result = loadGetterTupleMultisig(source);
        return result;
    }
    
    async getOwners(provider: ContractProvider) {
        const builder = new TupleBuilder();
        const source = (await provider.get('owners', builder.build())).stack;
        const result = Dictionary.loadDirect(Dictionary.Keys.Address(), Dictionary.Values.Uint(8), source.readCellOpt());
        return result;
    }
    
}